shard::hosts! {
    pub API = "127.0.0.2",
    pub API = "127.0.0.4",
}

fn main() {}
