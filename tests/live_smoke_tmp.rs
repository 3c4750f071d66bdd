use splitbrain::coord::{Coordination, CreateOptions};
use splitbrain::live::{EnsembleConfig, LiveZk, RealEnsemble};
use splitbrain::zk::types::CreateMode;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke() {
    let t = Instant::now();
    let ens = tokio::task::block_in_place(|| RealEnsemble::start(EnsembleConfig::with_servers(3))).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("started in {:?}, leader {:?}, modes {:?}", t.elapsed(), ens.leader(), ens.modes());
    let zk = LiveZk::connect(&ens.connect_string(), Duration::from_secs(6), &[]).await.unwrap();
    eprintln!("session {:x} timeout {:?}", zk.session_id(), zk.negotiated_session_timeout());
    let (p, s) = zk.create("/a", b"x", &CreateOptions::new(CreateMode::Persistent)).await.unwrap();
    eprintln!("{p} {s:?}");
    eprintln!("{:?}", zk.get_data("/a").await);
    eprintln!("dir {:?}", std::fs::read_dir(ens.server_dir(0).unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect::<Vec<_>>());
    eprintln!("cfg {}", std::fs::read_to_string(ens.server_dir(0).unwrap().join("zoo.cfg")).unwrap());
    zk.close().await.unwrap();
    eprintln!("total {:?}", t.elapsed());
}
