shard::hosts! {
    pub API = "127.0.0.300",
    pub DB = "localhost",
}

fn main() {}
