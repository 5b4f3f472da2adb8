//! `node_runtime::Runtime::compile`: application bytes from
//! `install-application` (validation against the ABI's imports and the
//! `memory` export, `abi.rs`), and `Runtime::load` of the sealed artifact.
//!
//! Slower than the other targets (cranelift compiles what validates); the
//! wasm parser itself is fuzzed upstream, so keep `-max_len` small.
//!
//! Properties: no panic; a compiled module's sealed artifact loads again
//! with the same methods; a sealed artifact with any byte changed is
//! refused as `Tampered` before anything is deserialized.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use node_runtime::{InstallError, Limits, Runtime, RuntimeConfig};

thread_local! {
    static RUNTIME: Runtime = {
        let limits = Limits {
            fuel: 1_000_000,
            deadline: Duration::from_secs(1),
            max_memory_pages: 16,
            ..Limits::default()
        };
        let mut config = RuntimeConfig::new(limits, [7; 32]);
        config.instances = 1;
        Runtime::new(config).expect("the engine starts")
    };
}

fuzz_target!(|data: &[u8]| {
    RUNTIME.with(|runtime| {
        let Ok((module, sealed)) = runtime.compile(data) else {
            return;
        };
        let mut methods = module.methods();
        methods.sort();
        let loaded = runtime.load(&sealed).expect("a sealed artifact loads");
        let mut again = loaded.methods();
        again.sort();
        assert_eq!(methods, again);

        // Flip one byte of the seal (the first 32 bytes): refused unread.
        let at = data.len() % 32;
        let mut tampered = sealed.clone();
        tampered[at] ^= 1;
        assert_eq!(runtime.load(&tampered).err(), Some(InstallError::Tampered));
        assert_eq!(
            runtime.load(&sealed[..16]).err(),
            Some(InstallError::Tampered)
        );
    });
});
