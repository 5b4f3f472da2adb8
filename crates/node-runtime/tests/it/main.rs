//! Integration tests of the wasm host: the APP-ABI conformance checklist with
//! the guestbook app and hand-written modules, limits, and hostile modules.

mod conformance;
mod host_functions;
mod hostile;
mod support;
