//! Two wallets logging in at once on a node with no root key: exactly one
//! becomes root.

use std::sync::{Arc, Barrier};

use server_auth::{AuthError, LoginOutcome};

use crate::support::{at, authenticator, body, parse};

#[test]
fn concurrent_first_logins_make_exactly_one_root() {
    for _ in 0..50 {
        let auth = authenticator();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["near-no-context", "eth-no-context"]
            .into_iter()
            .map(|name| {
                let (auth, barrier, request) = (auth.clone(), barrier.clone(), parse(&body(name)));
                std::thread::spawn(move || {
                    barrier.wait();
                    auth.add_client_key(&request, at(10))
                })
            })
            .collect();
        let outcomes: Vec<_> = threads
            .into_iter()
            .map(|thread| thread.join().expect("no panic"))
            .collect();
        let roots = outcomes
            .iter()
            .filter(|outcome| **outcome == Ok(LoginOutcome::RootKeyCreated))
            .count();
        let refused = outcomes
            .iter()
            .filter(|outcome| **outcome == Err(AuthError::NotRootKey))
            .count();
        assert_eq!((roots, refused), (1, 1), "{outcomes:?}");
        let did = auth.did().expect("did");
        assert_eq!((did.root_keys.len(), did.client_keys.len()), (1, 1));
    }
}
