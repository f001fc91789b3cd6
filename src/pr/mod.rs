//! `kubeharden pr`: commits the fixed manifests on a bot branch and opens or updates the pull
//! request that carries them. [`git`] drives the `git` command, [`github`] the REST API.

pub mod git;
pub mod github;
