"""A simulated fleet bridged to a TAP (Simulation.bridge) takes its leases from dnsmasq on the kernel's side, in real
time: every lease in dnsmasq's lease file with its host name, and the kernel pings a station."""

import subprocess

import interop_netns as nsx
from dhcp_peers import dnsmasq

from lwipy.netif.tap import TapDevice
from lwipy.sim import Simulation


def test_fleet_of_30_leases_from_dnsmasq_over_a_tap(netns, tmp_path):
    nsx.add_tap(netns, nsx.TAP, "10.88.0.1", 16)
    server = dnsmasq(netns, nsx.TAP, tmp_path, "--dhcp-range=10.88.1.0,10.88.1.255,255.255.0.0,1h")
    tap = TapDevice(nsx.TAP, netns=netns)
    try:
        server.wait_log(lambda t: "started" in t, nsx.GENEROUS, "dnsmasq to start")
        sim = Simulation(seed=5, realtime=True)
        fleet = sim.fleet(30, server=False, prefix="fleet")
        bridge = sim.bridge(sim.hubs[-1], tap)
        assert sim.run_until(fleet.all_bound, timeout=nsx.GENEROUS * 2)
        assert bridge.frames_out >= 60 and bridge.frames_in >= 60
        leases = (tmp_path / "dnsmasq.leases").read_text()
        for i, address in enumerate(fleet.addresses()):
            assert f" {address} fleet{i} " in leases, (address, leases)
        # the kernel reaches a station through the bridge while the simulation runs
        target = str(fleet.addresses()[7])
        ping = subprocess.Popen(["ip", "netns", "exec", netns, "ping", "-c", "3", "-i", "0.2", "-W", "5", target],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sim.run_until(lambda: ping.poll() is not None, timeout=nsx.GENEROUS)
        out = ping.communicate(timeout=nsx.GENEROUS)[0]
        assert ping.returncode == 0 and " 0% packet loss" in out, out
    finally:
        tap.close()
        server.stop()
