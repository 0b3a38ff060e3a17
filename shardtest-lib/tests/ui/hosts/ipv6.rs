shard::hosts! {
    pub API = "::1",
}

fn main() {}
