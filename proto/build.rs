//! Compiles the `.proto` files with protox, a protobuf compiler written in Rust, so that building
//! needs no `protoc` on the machine; tonic-prost-build then writes the Rust code into OUT_DIR.

const PROTOS: [&str; 4] = [
    "sebs/job/v1/job.proto",
    "sebs/fleet/v1/fleet.proto",
    "sebs/runs/v1/runs.proto",
    "sebs/state/v1/state.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
