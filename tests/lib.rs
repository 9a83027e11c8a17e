//! Cross-crate end-to-end tests for pghd-hub. The tests live in `e2e/` as one test
//! binary (`cargo test -p pghd-hub-e2e`); add new scenarios as modules of `e2e/main.rs`.
