#[shard::serial]
struct Database;

#[shard::non_critical]
const LIMIT: u32 = 3;

fn main() {}
