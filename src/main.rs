//! The poolscope binary.
fn main() {
    println!("poolscope {}", env!("CARGO_PKG_VERSION"));
}
