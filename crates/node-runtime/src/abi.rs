//! The host functions of the ABI (APP-ABI §3): names and wasm signatures, and
//! the install-time check of a module against them.

use wasmtime::{ExternType, FuncType, Module, ValType};

use crate::InstallError;

/// A wasm value type of the ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ty {
    I32,
    I64,
}

/// `(name, params, results)` of every host function, module `env`.
pub(crate) const HOST_FUNCTIONS: &[(&str, &[Ty], &[Ty])] = {
    use Ty::{I32, I64};
    &[
        ("panic", &[I64], &[]),
        ("panic_utf8", &[I64, I64], &[]),
        ("register_len", &[I64], &[I64]),
        ("read_register", &[I64, I64], &[I32]),
        ("context_id", &[I64], &[]),
        ("executor_id", &[I64], &[]),
        ("input", &[I64], &[]),
        ("value_return", &[I64], &[]),
        ("log_utf8", &[I64], &[]),
        ("emit", &[I64], &[]),
        ("commit", &[I64, I64], &[]),
        ("storage_read", &[I64, I64], &[I32]),
        ("storage_remove", &[I64, I64], &[I32]),
        ("storage_write", &[I64, I64, I64], &[I32]),
        ("fetch", &[I64, I64, I64, I64, I64], &[I32]),
        ("random_bytes", &[I64], &[]),
        ("time_now", &[I64], &[]),
        ("send_proposal", &[I64, I64], &[]),
        ("approve_proposal", &[I64], &[]),
        ("blob_create", &[], &[I64]),
        ("blob_open", &[I64], &[I64]),
        ("blob_read", &[I64, I64], &[I64]),
        ("blob_write", &[I64, I64], &[I64]),
        ("blob_close", &[I64, I64], &[I32]),
        ("blob_announce_to_context", &[I64, I64], &[I32]),
    ]
};

fn matches(found: &FuncType, params: &[Ty], results: &[Ty]) -> bool {
    let same = |types: &mut dyn ExactSizeIterator<Item = ValType>, want: &[Ty]| {
        types.len() == want.len()
            && types.zip(want).all(|(ty, want)| match want {
                Ty::I32 => matches!(ty, ValType::I32),
                Ty::I64 => matches!(ty, ValType::I64),
            })
    };
    same(&mut found.params(), params) && same(&mut found.results(), results)
}

fn describe(params: &[Ty], results: &[Ty]) -> String {
    let list = |types: &[Ty]| {
        types
            .iter()
            .map(|ty| match ty {
                Ty::I32 => "i32",
                Ty::I64 => "i64",
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(params), list(results))
}

/// Checks that every import is a host function with the ABI's signature and
/// that the module exports `memory`.
pub(crate) fn validate(module: &Module) -> Result<(), InstallError> {
    for import in module.imports() {
        let unknown = || InstallError::UnknownImport {
            module: import.module().to_owned(),
            name: import.name().to_owned(),
        };
        if import.module() != "env" {
            return Err(unknown());
        }
        let (_, params, results) = HOST_FUNCTIONS
            .iter()
            .find(|(name, _, _)| *name == import.name())
            .ok_or_else(unknown)?;
        let ExternType::Func(found) = import.ty() else {
            return Err(unknown());
        };
        if !matches(&found, params, results) {
            return Err(InstallError::ImportSignature {
                name: import.name().to_owned(),
                found: found.to_string(),
                expected: describe(params, results),
            });
        }
    }
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => Ok(()),
        _ => Err(InstallError::MissingMemory),
    }
}
