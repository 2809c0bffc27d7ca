//! A guest that imports `wasi:sockets` (it opens a TCP connection): raylab
//! must refuse it at load.
fn main() {
    let r = std::net::TcpStream::connect("127.0.0.1:9");
    println!("{}", r.is_ok());
}
