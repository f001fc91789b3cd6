//! `kubeharden pr`: commits the fixed manifests on a bot branch and opens a pull request for them.

pub mod git;
