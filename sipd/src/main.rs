//! sipd: the dahdi-mwi SIP daemon (command line in a later step).
fn main() {}
