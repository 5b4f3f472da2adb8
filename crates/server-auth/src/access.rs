//! Authorization: what an authenticated [`Principal`] may do.
//!
//! The one decision of the node: a principal has a [`Role`], and an
//! [`Action`] is allowed or refused by that role alone. The transports map
//! each route to an action (the admin API by an extractor per route class,
//! JSON-RPC and the WebSocket per context) and never decide themselves.
//!
//! | role | administer the node | read its context | call / subscribe |
//! |---|---|---|---|
//! | administrator | yes | any | any context, as any member |
//! | context principal | no | its own only | its own context, as its own executor |

use node_primitives::{ContextId, PublicKey};

use crate::AuthError;

/// Who made an authenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A registered client key, by the auth headers.
    ClientKey {
        /// The client key (base58 libp2p protobuf).
        signing_key: String,
        /// The identity its calls run as: the raw ed25519 key inside it.
        executor: PublicKey,
        /// The context the key was registered for; `None`: the node's
        /// administrator.
        context_id: Option<ContextId>,
        /// What keeps these credentials valid.
        lease: Lease,
    },
    /// A bearer access token.
    Token {
        /// The context the token is bound to.
        context_id: ContextId,
        /// The identity calls are executed as.
        executor_public_key: PublicKey,
        /// What keeps these credentials valid.
        lease: Lease,
    },
}

/// What keeps a principal's credentials valid: the client key registration
/// they stand on and, for a token, its expiry. Long-lived sessions (`/ws`)
/// check it again with [`Authenticator::revalidate`](crate::Authenticator::revalidate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The client key.
    pub(crate) key: String,
    /// Its registration.
    pub(crate) registration: String,
    /// When the credentials expire (Unix s), if they do.
    pub(crate) expires: Option<u64>,
}

impl Lease {
    /// The lease of a key's registration, expiring at `expires` if at all.
    pub(crate) fn new(key: &str, registration: &str, expires: Option<u64>) -> Self {
        Self {
            key: key.to_owned(),
            registration: registration.to_owned(),
            expires,
        }
    }

    /// The client key the credentials stand on.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// What a principal is to the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May do everything: a client key a root wallet registered without a context.
    Administrator,
    /// May call and follow one context, as one identity, and read that context.
    Context {
        /// The context.
        context_id: ContextId,
        /// The identity its calls run as.
        executor: PublicKey,
    },
}

/// What a request asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Anything that administers the node: keys, applications, contexts,
    /// tokens, and every per-context route but reading the context.
    Administer,
    /// Read one context's record (`GET /contexts/{id}`).
    ReadContext(ContextId),
    /// Call the context's methods (JSON-RPC) or follow its events (`/ws`).
    UseContext(ContextId),
}

impl Principal {
    /// The principal's role.
    #[must_use]
    pub fn role(&self) -> Role {
        match self {
            Self::ClientKey {
                context_id: None, ..
            } => Role::Administrator,
            Self::ClientKey {
                context_id: Some(context_id),
                executor,
                ..
            } => Role::Context {
                context_id: *context_id,
                executor: *executor,
            },
            Self::Token {
                context_id,
                executor_public_key,
                ..
            } => Role::Context {
                context_id: *context_id,
                executor: *executor_public_key,
            },
        }
    }

    /// What keeps the credentials valid.
    #[must_use]
    pub fn lease(&self) -> &Lease {
        match self {
            Self::ClientKey { lease, .. } | Self::Token { lease, .. } => lease,
        }
    }

    /// The public key the protocol names this principal by in refusals.
    #[must_use]
    pub fn public_key(&self) -> String {
        match self {
            Self::ClientKey { signing_key, .. } => signing_key.clone(),
            Self::Token {
                executor_public_key,
                ..
            } => executor_public_key.to_string(),
        }
    }

    /// Whether the principal may do `action`.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`], saying why.
    pub fn authorize(&self, action: Action) -> Result<(), AuthError> {
        match (self.role(), action) {
            (Role::Administrator, _) => Ok(()),
            (Role::Context { .. }, Action::Administer) => Err(AuthError::Forbidden(
                "this credential is bound to one context; only the node's administrator may do this"
                    .into(),
            )),
            (
                Role::Context { context_id, .. },
                Action::ReadContext(asked) | Action::UseContext(asked),
            ) => {
                if context_id == asked {
                    Ok(())
                } else {
                    Err(AuthError::Forbidden(format!(
                        "this credential is bound to context {context_id}, not {asked}"
                    )))
                }
            }
        }
    }

    /// The identity a call on `context` runs as, when the caller names
    /// `asked` (JSON-RPC's `executorPublicKey`): the administrator's choice
    /// (`None`: the node's default, the context's first member); a context
    /// principal's own executor, which `asked` may only repeat. The node then
    /// refuses an executor that is not a member of the context.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`] for another context or another identity.
    pub fn executor(
        &self,
        context: ContextId,
        asked: Option<PublicKey>,
    ) -> Result<Option<PublicKey>, AuthError> {
        self.authorize(Action::UseContext(context))?;
        match self.role() {
            Role::Administrator => Ok(asked),
            Role::Context { executor, .. } => match asked {
                Some(asked) if asked != executor => Err(AuthError::Forbidden(format!(
                    "this credential calls as {executor}, not {asked}"
                ))),
                _ => Ok(Some(executor)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (ContextId, ContextId, PublicKey, PublicKey) {
        (
            ContextId::from_bytes([1; 32]),
            ContextId::from_bytes([2; 32]),
            PublicKey::from_bytes([3; 32]),
            PublicKey::from_bytes([4; 32]),
        )
    }

    #[test]
    fn the_administrator_may_do_everything_as_anyone() {
        let (ours, _, me, other) = ids();
        let admin = Principal::ClientKey {
            signing_key: "k".into(),
            executor: me,
            context_id: None,
            lease: Lease::new("k", "r", None),
        };
        assert_eq!(admin.role(), Role::Administrator);
        for action in [
            Action::Administer,
            Action::ReadContext(ours),
            Action::UseContext(ours),
        ] {
            assert_eq!(admin.authorize(action), Ok(()));
        }
        assert_eq!(admin.executor(ours, Some(other)), Ok(Some(other)));
        assert_eq!(admin.executor(ours, None), Ok(None));
    }

    #[test]
    fn context_principals_reach_their_context_as_themselves_only() {
        let (ours, theirs, me, other) = ids();
        let principals = [
            Principal::ClientKey {
                signing_key: "k".into(),
                executor: me,
                context_id: Some(ours),
                lease: Lease::new("k", "r", None),
            },
            Principal::Token {
                context_id: ours,
                executor_public_key: me,
                lease: Lease::new("k", "r", Some(10)),
            },
        ];
        for principal in principals {
            assert!(principal.authorize(Action::Administer).is_err());
            assert_eq!(principal.authorize(Action::ReadContext(ours)), Ok(()));
            assert_eq!(principal.authorize(Action::UseContext(ours)), Ok(()));
            assert!(principal.authorize(Action::ReadContext(theirs)).is_err());
            assert!(principal.authorize(Action::UseContext(theirs)).is_err());
            assert_eq!(principal.executor(ours, None), Ok(Some(me)));
            assert_eq!(principal.executor(ours, Some(me)), Ok(Some(me)));
            assert!(principal.executor(ours, Some(other)).is_err());
            assert!(principal.executor(theirs, Some(me)).is_err());
        }
    }
}
