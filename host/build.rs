//! Builds the crate again when a migration changes: `sqlx::migrate!` embeds the files of
//! `migrations/`, and cargo tracks only the crate's own sources.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
