//! A guest that uses `wasi:sockets` (TCP connect, UDP bind, a name
//! lookup): it loads (CPython's C library imports sockets whatever the
//! program does), and every use is refused. Prints one line per attempt.
fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9".into());
    match std::net::TcpStream::connect(&addr) {
        Ok(_) => println!("tcp connect: CONNECTED"),
        Err(e) => println!("tcp connect: refused ({e})"),
    }
    match std::net::UdpSocket::bind("127.0.0.1:0") {
        Ok(_) => println!("udp bind: BOUND"),
        Err(e) => println!("udp bind: refused ({e})"),
    }
    match std::net::ToSocketAddrs::to_socket_addrs("localhost:80") {
        Ok(a) => println!("lookup: RESOLVED {:?}", a.collect::<Vec<_>>()),
        Err(e) => println!("lookup: refused ({e})"),
    }
}
