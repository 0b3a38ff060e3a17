#[shard::flaky(retries = 2)]
#[should_panic]
fn flaky_should_panic() {
    panic!()
}

#[shard::serial]
fn takes_an_argument(_port: u16) {}

#[shard::serial]
fn returns_a_number() -> u32 {
    1
}

fn main() {}
