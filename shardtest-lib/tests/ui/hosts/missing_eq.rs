shard::hosts! {
    pub API "127.0.0.2",
}

fn main() {}
