//! Example app: Only Peers, a forum of posts and comments.
//!
//! Methods (JSON-RPC `method` / `argsJson`):
//! - `create_post {"title", "content"}` → the new post; emits `PostCreated`.
//! - `create_comment {"post_id", "user", "text"}` → the comment, or `null` when
//!   there is no such post; emits `CommentCreated`.
//! - `post {"id"}` → the post with its comments, or `null`.
//! - `posts` → every post, oldest first.

use calimero_sdk::borsh::{BorshDeserialize, BorshSerialize};
use calimero_sdk::serde::Serialize;
use calimero_sdk::app;
use calimero_storage::collections::Vector;

/// The forum's state: posts in creation order; a post's id is its index.
#[app::state(emits = for<'a> Event<'a>)]
#[derive(Debug, BorshSerialize, BorshDeserialize)]
#[borsh(crate = "calimero_sdk::borsh")]
pub struct OnlyPeers {
    posts: Vector<Post>,
}

/// A post and its comments.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize, Serialize)]
#[borsh(crate = "calimero_sdk::borsh")]
#[serde(crate = "calimero_sdk::serde")]
pub struct Post {
    id: u64,
    title: String,
    content: String,
    comments: Vec<Comment>,
}

/// A comment on a post.
#[derive(Debug, Clone, PartialEq, BorshSerialize, BorshDeserialize, Serialize)]
#[borsh(crate = "calimero_sdk::borsh")]
#[serde(crate = "calimero_sdk::serde")]
pub struct Comment {
    user: String,
    text: String,
}

/// What happened in the forum.
#[app::event]
pub enum Event<'a> {
    /// A post was created.
    PostCreated { id: u64, title: &'a str, content: &'a str },
    /// A comment was added to a post.
    CommentCreated { post_id: u64, user: &'a str, text: &'a str },
}

#[app::logic]
impl OnlyPeers {
    #[app::init]
    pub fn init() -> OnlyPeers {
        OnlyPeers {
            posts: Vector::new(),
        }
    }

    pub fn post(&self, id: u64) -> app::Result<Option<Post>> {
        let Ok(index) = usize::try_from(id) else {
            return Ok(None);
        };
        Ok(self.posts.get(index)?)
    }

    pub fn posts(&self) -> app::Result<Vec<Post>> {
        Ok(self.posts.iter()?.collect())
    }

    pub fn create_post(&mut self, title: String, content: String) -> app::Result<Post> {
        let id = self.posts.len()? as u64;
        app::emit!(Event::PostCreated {
            id,
            title: &title,
            content: &content,
        });
        let post = Post {
            id,
            title,
            content,
            comments: Vec::new(),
        };
        self.posts.push(post.clone())?;
        Ok(post)
    }

    pub fn create_comment(&mut self, post_id: u64, user: String, text: String) -> app::Result<Option<Comment>> {
        let Ok(index) = usize::try_from(post_id) else {
            return Ok(None);
        };
        let Some(mut post) = self.posts.get(index)? else {
            return Ok(None);
        };
        app::emit!(Event::CommentCreated {
            post_id,
            user: &user,
            text: &text,
        });
        let comment = Comment { user, text };
        post.comments.push(comment.clone());
        self.posts.update(index, post)?;
        Ok(Some(comment))
    }
}
