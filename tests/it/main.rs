//! certsh's integration tests: one binary, a module per area, so that the
//! crate and its dependencies are linked once, not once per file.
//!
//! `tests/support` is the test bench every module uses (a temporary HOME, the
//! test certifier on loopback, the real sshd). `tests/cases` holds the
//! expected output written out in full. Modules or tests that need root,
//! cross tools or packaging belong to tier all (`scripts/test --all`, the
//! `test-all` feature); see docs/testing.md.
//!
//! They run the real OpenSSH sshd and Unix shells: Unix only. On Windows
//! the unit tests in `src` run (docs/windows.md).

#![cfg(unix)]

#[path = "../support/mod.rs"]
mod support;

mod accounts;
mod action;
mod agent;
mod agent_guards;
mod agent_server;
mod architecture;
// Linux only: attacks (see .github/workflows/ci.yml).
#[cfg(target_os = "linux")]
mod attacks;
// Linux only: attacks_login (see .github/workflows/ci.yml).
#[cfg(target_os = "linux")]
mod attacks_login;
mod attacks_ssh_config;
mod cases;
mod ci_recipes;
mod commands;
mod dist;
mod docs_cite_tests;
mod doctor;
mod fallback;
mod faults;
mod git_and_ssh;
mod install;
mod keychain;
mod login;
// Linux only: login_elsewhere (see .github/workflows/ci.yml).
#[cfg(target_os = "linux")]
mod login_elsewhere;
mod official_cli;
mod release_install;
mod renew_ahead;
mod robustness;
mod secrets;
mod setup;
mod setup_agent;
mod shim_program;
mod wine;
