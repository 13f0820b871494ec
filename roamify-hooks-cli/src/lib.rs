//! The library behind the `roamify-hooks` command line tool, for programs that want the same
//! operations: send a signed test delivery ([`send`]), explain why a signature does not match a
//! captured body ([`verify`]), show or change a JSON body without rewriting its values
//! ([`json`]), and salvage a damaged journal ([`salvage`]). It opens stores from their URL with the crate `roamify-hooks-stores`.
//!
//! The command itself (`cargo install --locked --path roamify-hooks-cli`, then `roamify-hooks --help`)
//! adds the operator's commands (stats, dead letters, the delivery history, pauses), which ask
//! the admin API ([`admin`]) of a store opened in-process or of a running server, and print its
//! answers ([`print`](mod@print)).

pub mod admin;
pub mod json;
pub mod print;
pub mod salvage;
pub mod send;
pub mod verify;
