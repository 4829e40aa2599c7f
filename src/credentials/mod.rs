//! Credentials: where the API token or browser session comes from, the cloud's
//! HTTP API that turns it into an access token and a certificate, and logging
//! in and out.

pub mod ahead;
pub mod api;
pub mod browser;
pub mod callback;
pub mod jwt;
pub mod login;
pub mod need_login;
pub mod official;
pub mod paste;
pub mod peer;
pub mod refresh;
pub mod source;
pub mod stored;
