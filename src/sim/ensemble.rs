//! Puts a ZooKeeper ensemble into a world: one host per server, each running the simulated
//! server with the ensemble's timings. Shared by the standard world, the pair world and tests.

use crate::sim::net::{Addr, HostId, ports};
use crate::sim::topology::ZkSpec;
use crate::sim::world::World;
use crate::zk::server::{ServerConfig, server_process};

/// Adds the servers of `spec` (myid = position in the list + 1) and sets their processes.
/// Returns their hosts in list order; start them with `World::start`.
pub fn add_ensemble(world: &World, spec: &ZkSpec) -> Vec<HostId> {
    add_ensemble_with(world, spec, |_| {})
}

/// [`add_ensemble`], with `tune` adjusting each server's configuration beyond what a
/// [`ZkSpec`] says (session timeout bounds, container reaping interval, ...).
pub fn add_ensemble_with(
    world: &World,
    spec: &ZkSpec,
    tune: impl Fn(&mut ServerConfig),
) -> Vec<HostId> {
    let hosts: Vec<HostId> = spec
        .servers
        .iter()
        .map(|s| world.add_host(&s.name, &s.site))
        .collect();
    let members = |observer: bool| -> Vec<(u64, HostId)> {
        spec.servers
            .iter()
            .zip(&hosts)
            .enumerate()
            .filter(|(_, (s, _))| s.observer == observer)
            .map(|(i, (_, h))| (i as u64 + 1, *h))
            .collect()
    };
    let (voters, observers) = (members(false), members(true));
    for (i, host) in hosts.iter().enumerate() {
        let mut config = ServerConfig::new(
            i as u64 + 1,
            voters.clone(),
            observers.clone(),
            spec.tick_time,
            spec.init_limit,
            spec.sync_limit,
        );
        tune(&mut config);
        world.set_process(*host, server_process(config));
    }
    hosts
}

/// The client port of each server.
pub fn client_addrs(hosts: &[HostId]) -> Vec<Addr> {
    hosts
        .iter()
        .map(|h| Addr {
            host: *h,
            port: ports::ZK_CLIENT,
        })
        .collect()
}
