//! Set-up: making git, ssh, scp, rsync and shells use certsh (`certsh setup`,
//! `certsh env`, `certsh git|scp|rsync`), starting `certsh agent` at login,
//! and the completions and man page.

pub mod agent_service;
pub mod completions;
pub mod git;
pub mod host_keys;
pub mod ssh_config;
pub mod wrap;
