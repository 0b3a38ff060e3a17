shard::hosts! {
    pub API = "127.0.0.2",
    pub DB = "127.0.0.3",
    pub BROKER = "127.0.0.2",
}

fn main() {}
