shard::hosts! {
    pub API = "127.0.0.2",
    pub SANDBOX = "10.1.2.3",
    pub external OK_REMOTE = "10.1.2.4",
}

fn main() {}
