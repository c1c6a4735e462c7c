"""The demo fleet: the services of the shared runbooks, running inside the process."""

from __future__ import annotations

from dataclasses import dataclass

from opsconsole.config.model import Config, ConsoleSection, ServiceSection
from opsconsole.demo.faults import Fault
from opsconsole.demo.service import DemoService
from opsconsole.demo.traffic import TrafficGenerator


@dataclass(frozen=True)
class DemoServiceSpec:
    name: str
    health_path: str = "/health"
    latency: float = 0.04


# The stacks of the shared runbooks: NL-FHIR with its HAPI FHIR server, and the
# nginx / frontend / backend stack, each with the health path its runbook curls.
DEFAULT_FLEET = (
    DemoServiceSpec("nl-fhir", latency=0.35),
    DemoServiceSpec("hapi-fhir", health_path="/fhir/metadata", latency=0.12),
    DemoServiceSpec("backend", latency=0.08),
    DemoServiceSpec("frontend", health_path="/api/health", latency=0.03),
    DemoServiceSpec("nginx", latency=0.01),
)


class DemoFleet:
    """Starts and stops every service and the traffic that drives them."""

    def __init__(
        self, specs: tuple[DemoServiceSpec, ...] = DEFAULT_FLEET, *, traffic_rate: float = 5.0
    ) -> None:
        self.services = {
            spec.name: DemoService(spec.name, health_path=spec.health_path, latency=spec.latency)
            for spec in specs
        }
        self.traffic = TrafficGenerator(list(self.services.values()), rate=traffic_rate)

    def __enter__(self) -> DemoFleet:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        for service in self.services.values():
            service.start()
        if self.traffic.rate > 0:
            self.traffic.start()

    def stop(self) -> None:
        self.traffic.stop()
        for service in self.services.values():
            service.stop()

    def set_fault(self, name: str, fault: Fault | str, **settings: float) -> None:
        self.services[name].set_fault(fault, **settings)

    def config(self) -> Config:
        """A configuration that points the console at this fleet, as at any real one.
        Its services are a sandbox: drills may inject their faults."""
        return Config(
            console=ConsoleSection(environment="demo"),
            services=[
                ServiceSection(
                    name=s.name,
                    health_url=s.health_url,
                    metrics_url=s.base_url + "/metrics",
                    prometheus_label=s.name,
                    sandbox=True,
                    demo=True,
                )
                for s in self.services.values()
            ],
        )
