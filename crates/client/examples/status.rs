//! Prints what a running node holds, as its operator:
//!
//! ```sh
//! cargo xtask serve &                      # a node on ./.dev-node
//! cargo run -p client --example status -- .dev-node
//! ```

#![allow(clippy::print_stdout)]

use client::Client;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), client::Error> {
    let home = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".dev-node".to_owned());
    let node = Client::operator(std::path::Path::new(&home)).await?;
    println!(
        "node {} at {} (version {})",
        node.node_id(),
        node.url(),
        node.node_version().unwrap_or("unknown")
    );
    for app in node.applications().await? {
        println!(
            "application {} ({} bytes, from {})",
            app.id, app.size, app.source
        );
    }
    for context in node.contexts().await? {
        let size = node.context_storage(context.id).await?;
        println!(
            "context {} runs {}: root {}, {size} bytes of state",
            context.id, context.application_id, context.root_hash
        );
    }
    Ok(())
}
