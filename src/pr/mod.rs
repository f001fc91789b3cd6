//! `kubeharden pr`: opens or updates the pull request that carries kubeharden's fixes.

pub mod github;
