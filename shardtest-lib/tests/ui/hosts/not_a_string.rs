shard::hosts! {
    pub API = 127,
}

fn main() {}
