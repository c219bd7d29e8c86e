"""A small stateful OpenStack at the HTTP level, for the real openstacksdk code path.

It plugs into requests-mock as one matcher and answers Keystone v3 (password and application-credential
tokens with a service catalog), and the Nova, Neutron and Glance calls the launcher's provider makes.
Every request is recorded (``calls``), so tests assert what was actually sent. A request it does not know
is answered 501 and listed in ``unhandled`` (tests check that it stays empty).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests_mock

AUTH_URL = "https://keystone.example.test/v3"
COMPUTE = "https://compute.example.test/v2.1"
NETWORK = "https://network.example.test"
IMAGE = "https://image.example.test"
VOLUME = "https://volume.example.test/v3"  # in the catalog only: Nova makes the boot volumes
PROJECT_ID = "0c1e8d4f5b6a47c2a9e3d1f2b3c4d5e6"
USER_ID = "5f2d3c4b1a0948e7b6c5d4e3f2a1b0c9"
TOKEN = "gAAAAA-fake-token"
PRIVATE_NET = "net-private-0001"
PUBLIC_NET = "net-public-0001"


# Nova's server actions the launcher uses: the states each is allowed from, and the task it starts
SERVER_ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "os-start": (("SHUTOFF",), "powering-on"),
    "unshelve": (("SHELVED", "SHELVED_OFFLOADED"), "unshelving"),
    "resume": (("SUSPENDED",), "resuming"),
    "unpause": (("PAUSED",), "unpausing"),
    "confirmResize": (("VERIFY_RESIZE",), "resize_confirming"),
}
# states that end in ACTIVE by themselves (after build_polls GETs)
TRANSIENT_STATES = ("BUILD", "MIGRATING", "RESIZE", "REBOOT", "HARD_REBOOT", "REBUILD")


def state_path(settings: Any) -> Path:
    """The launcher's state file for ``settings`` (cloud and prefix), or a path that does not exist."""
    found = sorted(settings.state_dir.glob(f"openstack-{settings.cloud}-*-{settings.prefix}.json"))
    assert len(found) <= 1, found
    return found[0] if found else settings.state_dir / "no-state-file.json"


@dataclass
class Call:
    """One request the SDK sent."""

    method: str
    url: str
    path: str
    query: dict[str, list[str]]
    body: Any

    def __repr__(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class FakeCloud:
    """The cloud's state and its HTTP answers."""

    password: str = "secret"
    app_credential: tuple[str, str] = ("appcred-id", "appcred-secret")
    build_polls: int = 1
    error_fault: str | None = None
    quota_exceeded: bool = False
    # what os-getConsoleOutput answers (the same text for every server); None: 501, no console log
    console: str | None = None
    max_instances: int = 10
    max_cores: int = 20
    max_ram: int = 51200
    calls: list[Call] = field(default_factory=list)
    unhandled: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    flavors: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    subnets: list[dict[str, Any]] = field(default_factory=list)
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    keypairs: dict[str, dict[str, Any]] = field(default_factory=dict)
    security_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    ports: dict[str, dict[str, Any]] = field(default_factory=dict)
    floating_ips: dict[str, dict[str, Any]] = field(default_factory=dict)
    routers: list[dict[str, Any]] = field(default_factory=list)
    _polls: dict[str, int] = field(default_factory=dict)
    _ips: Any = field(default_factory=lambda: itertools.count(10))
    _fips: Any = field(default_factory=lambda: itertools.count(100))

    def __post_init__(self) -> None:
        self.images = [
            {"id": "img-debian-12", "name": "debian-12", "status": "active", "visibility": "public"},
            {"id": "img-debian-13", "name": "debian-13-trixie", "status": "active", "visibility": "public"},
            {"id": "img-ubuntu-24", "name": "ubuntu-24.04", "status": "active", "visibility": "public"},
        ]
        self.flavors = [
            {"id": "fl-small", "name": "m1.small", "ram": 2048, "vcpus": 1, "disk": 20},
            {"id": "fl-medium", "name": "m1.medium", "ram": 4096, "vcpus": 2, "disk": 40},
            {"id": "fl-large", "name": "m1.large", "ram": 8192, "vcpus": 4, "disk": 80},
            {"id": "fl-nodisk", "name": "v1.nodisk", "ram": 4096, "vcpus": 2, "disk": 0},
        ]
        self.networks = [
            self._network(PRIVATE_NET, "private", external=False),
            self._network(PUBLIC_NET, "public", external=True),
        ]
        self.subnets = [
            {
                "id": "sub-private",
                "name": "private-subnet",
                "network_id": PRIVATE_NET,
                "cidr": "10.0.0.0/24",
                "ip_version": 4,
                "gateway_ip": "10.0.0.1",
                "enable_dhcp": True,
                "project_id": PROJECT_ID,
            },
            {
                "id": "sub-public",
                "name": "public-subnet",
                "network_id": PUBLIC_NET,
                "cidr": "203.0.113.0/24",
                "ip_version": 4,
                "gateway_ip": "203.0.113.1",
                "enable_dhcp": False,
                "project_id": "admin",
            },
        ]

        self.add_router("router-1", PUBLIC_NET, "sub-private")

    def add_router(self, router_id: str, gateway_network: str | None, subnet_id: str) -> dict[str, Any]:
        """A router with its gateway on ``gateway_network`` and an interface on ``subnet_id`` (the port
        Neutron makes for the interface, device_owner network:router_interface)."""
        router = {
            "id": router_id,
            "name": router_id,
            "status": "ACTIVE",
            "admin_state_up": True,
            "external_gateway_info": {"network_id": gateway_network} if gateway_network else None,
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
        }
        self.routers.append(router)
        subnet = next(s for s in self.subnets if s["id"] == subnet_id)
        port_id = str(uuid.uuid4())
        self.ports[port_id] = {
            "id": port_id,
            "network_id": subnet["network_id"],
            "device_id": router_id,
            "device_owner": "network:router_interface",
            "mac_address": f"fa:16:3e:ff:00:{len(self.routers):02x}",
            "fixed_ips": [{"subnet_id": subnet_id, "ip_address": subnet["gateway_ip"]}],
            "status": "ACTIVE",
            "created_at": "2024-01-01T00:00:00Z",
            "project_id": PROJECT_ID,
        }
        return router

    # ---- plumbing ------------------------------------------------------------------------------------

    def install(self, mocker: requests_mock.Mocker) -> FakeCloud:
        """Answer every request of ``mocker``'s session with this cloud."""
        mocker.add_matcher(self._match)
        return self

    def _match(self, request: Any) -> Any:
        parts = urlsplit(request.url)
        body: Any = None
        if request.body:
            raw = request.body.decode() if isinstance(request.body, bytes) else request.body
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
        call = Call(request.method, request.url, parts.path, parse_qs(parts.query), body)
        self.calls.append(call)
        base = f"{parts.scheme}://{parts.netloc}"
        handler = {
            "https://keystone.example.test": self._keystone,
            "https://compute.example.test": self._nova,
            "https://network.example.test": self._neutron,
            "https://image.example.test": self._glance,
        }.get(base)
        answer = handler(call) if handler else None
        if answer is None:
            self.unhandled.append(f"{call.method} {request.url}")
            answer = (501, {"error": f"fakecloud does not know {call.method} {call.path}"})
        status, payload, *rest = answer
        headers = {"Content-Type": "application/json", **(rest[0] if rest else {})}
        if status == 204 or payload is None:
            return requests_mock.create_response(request, status_code=status, headers=headers, content=b"")
        return requests_mock.create_response(request, status_code=status, json=payload, headers=headers)

    def requests(self, method: str, pattern: str) -> list[Call]:
        """The recorded calls with this method whose path matches the regex ``pattern``."""
        return [c for c in self.calls if c.method == method and re.search(pattern, c.path)]

    @staticmethod
    def _filter(items: list[dict[str, Any]], query: dict[str, list[str]], skip: tuple[str, ...] = ()) -> list:
        out = []
        for item in items:
            keep = True
            for key, values in query.items():
                if key in skip or key not in item:
                    continue
                value = item[key]
                text = str(value).lower() if isinstance(value, bool) else str(value)
                if text not in [v.lower() if isinstance(value, bool) else v for v in values]:
                    keep = False
            if keep:
                out.append(item)
        return out

    @staticmethod
    def _network(net_id: str, name: str, external: bool) -> dict[str, Any]:
        return {
            "id": net_id,
            "name": name,
            "status": "ACTIVE",
            "admin_state_up": True,
            "router:external": external,
            "mtu": 1500 if external else 1450,  # a VXLAN tenant network
            "shared": external,
            "subnets": ["sub-public" if external else "sub-private"],
            "project_id": "admin" if external else PROJECT_ID,
            "tenant_id": "admin" if external else PROJECT_ID,
        }

    # ---- Keystone ------------------------------------------------------------------------------------

    def _catalog(self) -> list[dict[str, Any]]:
        def service(kind: str, name: str, url: str) -> dict[str, Any]:
            return {
                "type": kind,
                "name": name,
                "id": f"svc-{kind}",
                "endpoints": [
                    {
                        "id": f"ep-{kind}-{i}",
                        "interface": i,
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": url,
                    }
                    for i in ("public", "internal", "admin")
                ],
            }

        return [
            service("identity", "keystone", AUTH_URL),
            service("compute", "nova", COMPUTE),
            service("network", "neutron", NETWORK),
            service("image", "glance", IMAGE),
            service("volumev3", "cinderv3", VOLUME),
        ]

    def _keystone(self, call: Call) -> tuple | None:
        if call.method == "GET" and call.path.rstrip("/") in ("", "/v3"):
            version = {
                "id": "v3.14",
                "status": "stable",
                "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": AUTH_URL + "/"}],
                "media-types": [
                    {"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}
                ],
            }
            if call.path.rstrip("/") == "/v3":
                return 200, {"version": version}
            return 300, {"versions": {"values": [version]}}
        if call.method == "POST" and call.path == "/v3/auth/tokens":
            identity = (call.body or {}).get("auth", {}).get("identity", {})
            methods = identity.get("methods", [])
            if "password" in methods:
                ok = identity.get("password", {}).get("user", {}).get("password") == self.password
            elif "application_credential" in methods:
                cred = identity.get("application_credential", {})
                ok = (cred.get("id"), cred.get("secret")) == self.app_credential
            else:
                ok = False
            if not ok:
                return 401, {
                    "error": {
                        "code": 401,
                        "title": "Unauthorized",
                        "message": "The request you have made requires authentication.",
                    }
                }
            token = {
                "token": {
                    "methods": methods,
                    "expires_at": "2099-01-01T00:00:00.000000Z",
                    "issued_at": "2024-01-01T00:00:00.000000Z",
                    "user": {"id": USER_ID, "name": "demo", "domain": {"id": "default", "name": "Default"}},
                    "project": {
                        "id": PROJECT_ID,
                        "name": "demo",
                        "domain": {"id": "default", "name": "Default"},
                    },
                    "roles": [{"id": "role-member", "name": "member"}],
                    "catalog": self._catalog(),
                }
            }
            return 201, token, {"X-Subject-Token": TOKEN}
        return None

    # ---- Glance --------------------------------------------------------------------------------------

    def _glance(self, call: Call) -> tuple | None:
        path = call.path.rstrip("/")
        if call.method != "GET":
            return None
        if path == "":
            return 300, {
                "versions": [
                    {"id": "v2.16", "status": "CURRENT", "links": [{"rel": "self", "href": IMAGE + "/v2/"}]}
                ]
            }
        if path == "/v2/images":
            return 200, {"images": self._filter(self.images, call.query)}
        match = re.fullmatch(r"/v2/images/([^/]+)", path)
        if match:
            found = [i for i in self.images if i["id"] == match.group(1)]
            return (200, found[0]) if found else (404, {"message": "No image found"})
        return None

    # ---- Nova ----------------------------------------------------------------------------------------

    def _nova(self, call: Call) -> tuple | None:
        path = call.path.rstrip("/")
        if path in ("", "/v2.1") and call.method == "GET":
            version = {
                "id": "v2.1",
                "status": "CURRENT",
                "version": "2.95",
                "min_version": "2.1",
                "updated": "2013-07-23T11:33:21Z",
                "links": [{"rel": "self", "href": COMPUTE + "/"}],
            }
            return (200, {"version": version}) if path else (300, {"versions": [version]})
        path = path.removeprefix("/v2.1")
        if path.startswith("/flavors"):
            return self._nova_flavors(call, path)
        if path.startswith("/os-keypairs"):
            return self._nova_keypairs(call, path)
        if path.startswith("/servers"):
            return self._nova_servers(call, path)
        if path == "/limits" and call.method == "GET":
            return 200, self._limits()
        return None

    def _limits(self) -> dict[str, Any]:
        """Nova's absolute limits, the usage counted from the servers that exist."""
        flavors = {f["id"]: f for f in self.flavors}
        used = [flavors.get(s["flavor"]["id"], {"vcpus": 0, "ram": 0}) for s in self.servers.values()]
        return {
            "limits": {
                "rate": [],
                "absolute": {
                    "maxTotalInstances": self.max_instances,
                    "totalInstancesUsed": len(used),
                    "maxTotalCores": self.max_cores,
                    "totalCoresUsed": sum(f["vcpus"] for f in used),
                    "maxTotalRAMSize": self.max_ram,
                    "totalRAMUsed": sum(f["ram"] for f in used),
                    "maxServerMeta": 128,
                    "maxTotalKeypairs": 100,
                    "maxServerGroups": 10,
                    "maxServerGroupMembers": 10,
                    "totalServerGroupsUsed": 0,
                },
            }
        }

    def _nova_flavors(self, call: Call, path: str) -> tuple | None:
        if call.method != "GET":
            return None
        if path in ("/flavors", "/flavors/detail"):
            return 200, {"flavors": self._filter(self.flavors, call.query)}
        match = re.fullmatch(r"/flavors/([^/]+)", path)
        if match:
            found = [f for f in self.flavors if f["id"] == match.group(1)]
            return (
                (200, {"flavor": found[0]})
                if found
                else (404, {"itemNotFound": {"message": "Flavor not found"}})
            )
        return None

    def _nova_keypairs(self, call: Call, path: str) -> tuple | None:
        if path == "/os-keypairs" and call.method == "GET":
            return 200, {"keypairs": [{"keypair": k} for k in self.keypairs.values()]}
        if path == "/os-keypairs" and call.method == "POST":
            data = call.body["keypair"]
            keypair = {
                "name": data["name"],
                "public_key": data["public_key"],
                "type": "ssh",
                "fingerprint": "aa:bb",
                "user_id": USER_ID,
            }
            self.keypairs[data["name"]] = keypair
            return 200, {"keypair": keypair}
        match = re.fullmatch(r"/os-keypairs/([^/]+)", path)
        if match:
            name = match.group(1)
            if name not in self.keypairs:
                return 404, {"itemNotFound": {"code": 404, "message": f"Keypair {name} not found"}}
            if call.method == "GET":
                return 200, {"keypair": self.keypairs[name]}
            if call.method == "DELETE":
                del self.keypairs[name]
                return 202, None
        return None

    def _server_view(self, server: dict[str, Any]) -> dict[str, Any]:
        view = {k: v for k, v in server.items() if not k.startswith("_")}
        addresses: dict[str, list[dict[str, Any]]] = {}
        for port in self.ports.values():
            if port["device_id"] != server["id"]:
                continue
            net = next(n["name"] for n in self.networks if n["id"] == port["network_id"])
            fixed = port["fixed_ips"][0]["ip_address"]
            entries = addresses.setdefault(net, [])
            entries.append(
                {
                    "addr": fixed,
                    "version": 4,
                    "OS-EXT-IPS:type": "fixed",
                    "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                }
            )
            for fip in self.floating_ips.values():
                if fip["port_id"] == port["id"]:
                    entries.append(
                        {
                            "addr": fip["floating_ip_address"],
                            "version": 4,
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"],
                        }
                    )
        view["addresses"] = addresses
        return view

    def add_server(self, name: str, status: str = "ACTIVE", fault: str | None = None, **meta: str) -> dict:
        """A server that exists before the launcher runs (with a port on the private network)."""
        server_id = str(uuid.uuid4())
        server = {
            "id": server_id,
            "name": name,
            "status": status,
            "OS-EXT-STS:task_state": None,
            "OS-EXT-STS:vm_state": status.lower(),
            "metadata": dict(meta),
            "key_name": None,
            "flavor": {"id": "fl-medium"},
            "image": {"id": "img-debian-12"},
            "security_groups": [],
            "tenant_id": PROJECT_ID,
            "user_id": USER_ID,
            "created": "2024-01-01T00:00:00Z",
            "links": [],
        }
        if fault:
            server["fault"] = {"code": 500, "message": fault, "created": "2024-01-01T00:00:00Z"}
        self.servers[server_id] = server
        self._add_port(server_id, PRIVATE_NET)
        return server

    def _private_base(self) -> str:
        """The first three octets of the private subnet's CIDR (a /24)."""
        cidr = next(s["cidr"] for s in self.subnets if s["id"] == "sub-private")
        return cidr.rsplit(".", 1)[0]

    def _add_port(self, device_id: str, network_id: str) -> dict[str, Any]:
        port_id = str(uuid.uuid4())
        port = {
            "id": port_id,
            "network_id": network_id,
            "device_id": device_id,
            "device_owner": "compute:nova",
            "mac_address": "fa:16:3e:00:00:%02x" % (len(self.ports) + 1),
            "fixed_ips": [
                {"subnet_id": "sub-private", "ip_address": f"{self._private_base()}.{next(self._ips)}"}
            ],
            "status": "ACTIVE",
            "created_at": "2024-01-01T00:00:00Z",
            "project_id": PROJECT_ID,
        }
        self.ports[port_id] = port
        return port

    def _nova_servers(self, call: Call, path: str) -> tuple | None:
        if path in ("/servers", "/servers/detail") and call.method == "GET":
            servers = [self._server_view(s) for s in self.servers.values()]
            name = call.query.pop("name", None)
            if name:
                servers = [s for s in servers if re.search(name[0], s["name"])]
            servers = self._filter(servers, call.query, skip=("all_tenants", "limit", "marker"))
            return 200, {"servers": servers}
        if path == "/servers" and call.method == "POST":
            return self._create_server(call.body["server"])
        match = re.fullmatch(r"/servers/([^/]+)(/action)?", path)
        if not match:
            return None
        server = self.servers.get(match.group(1))
        if server is None:
            return 404, {
                "itemNotFound": {"code": 404, "message": f"Instance {match.group(1)} could not be found."}
            }
        if match.group(2) and call.method == "POST":
            return self._server_action(server, call.body or {})
        if call.method == "GET":
            self._advance(server)
            return 200, {"server": self._server_view(server)}
        if call.method == "DELETE":
            del self.servers[server["id"]]
            for port_id in [p for p, port in self.ports.items() if port["device_id"] == server["id"]]:
                del self.ports[port_id]
                for fip in self.floating_ips.values():
                    if fip["port_id"] == port_id:
                        fip.update(port_id=None, fixed_ip_address=None, status="DOWN")
            return 204, None
        return None

    def _server_action(self, server: dict[str, Any], body: dict[str, Any]) -> tuple | None:
        if "os-getConsoleOutput" in body:
            if self.console is None:
                return 501, {"notImplemented": {"code": 501, "message": "Unable to get console log"}}
            return 200, {"output": self.console}
        action = next((a for a in SERVER_ACTIONS if a in body), None)
        if action is None:
            return None
        allowed, task = SERVER_ACTIONS[action]
        if server["status"] not in allowed:
            return 409, {
                "conflictingRequest": {
                    "code": 409,
                    "message": f"Cannot '{action}' instance {server['id']} while it is in vm_state "
                    f"{server['status'].lower()}",
                }
            }
        server["OS-EXT-STS:task_state"] = task
        self._polls[server["id"]] = 0
        server["_pending"] = "ACTIVE"
        return 202, None

    def _advance(self, server: dict[str, Any]) -> None:
        if server.get("_pending"):
            self._polls[server["id"]] = self._polls.get(server["id"], 0) + 1
            if self._polls[server["id"]] > self.build_polls:
                server.update({"status": server.pop("_pending"), "OS-EXT-STS:task_state": None})
            return
        if server["status"] not in TRANSIENT_STATES:
            return
        self._polls[server["id"]] = self._polls.get(server["id"], 0) + 1
        if self._polls[server["id"]] > self.build_polls:
            if self.error_fault:
                server.update(status="ERROR", fault={"code": 500, "message": self.error_fault})
            else:
                server.update({"status": "ACTIVE", "OS-EXT-STS:task_state": None})

    def _create_server(self, data: dict[str, Any]) -> tuple:
        if self.quota_exceeded or len(self.servers) >= self.max_instances:
            used = max(len(self.servers), self.max_instances)
            return 403, {
                "forbidden": {
                    "code": 403,
                    "message": "Quota exceeded for instances: Requested 1, "
                    f"but already used {used} of {self.max_instances} instances",
                }
            }
        bdm = data.get("block_device_mapping_v2") or []
        flavor = next((f for f in self.flavors if f["id"] == data["flavorRef"]), {"disk": 1})
        if not flavor["disk"] and not any(b.get("destination_type") == "volume" for b in bdm):
            return 403, {  # Nova since Ussuri (policy os_compute_api:servers:create:zero_disk_flavor)
                "forbidden": {
                    "code": 403,
                    "message": "Only volume-backed servers are allowed for flavors with zero disk.",
                }
            }
        server = self.add_server(data["name"], status="BUILD", **data.get("metadata", {}))
        server.update(
            {
                "OS-EXT-STS:task_state": "spawning",
                "key_name": data.get("key_name"),
                "security_groups": data.get("security_groups", []),
                "flavor": {"id": data["flavorRef"]},
                "image": {"id": data.get("imageRef")},
                "_bdm": bdm,
                "config_drive": "True" if data.get("config_drive") else "",
                "OS-EXT-AZ:availability_zone": data.get("availability_zone") or "nova",
                "_user_data": base64.b64decode(data["user_data"]).decode() if data.get("user_data") else None,
            }
        )
        # the port the fake made is on the private network; move it to the requested one
        wanted = [n.get("uuid") for n in data.get("networks", []) if isinstance(n, dict)]
        for port in self.ports.values():
            if port["device_id"] == server["id"] and wanted:
                port["network_id"] = wanted[0]
        return 202, {
            "server": {
                "id": server["id"],
                "links": [],
                "adminPass": "not-used",
                "security_groups": data.get("security_groups", []),
            }
        }

    # ---- Neutron -------------------------------------------------------------------------------------

    def _neutron(self, call: Call) -> tuple | None:
        path = call.path.rstrip("/")
        if path == "" and call.method == "GET":
            return 200, {
                "versions": [
                    {
                        "id": "v2.0",
                        "status": "CURRENT",
                        "links": [{"rel": "self", "href": NETWORK + "/v2.0/"}],
                    }
                ]
            }
        path = path.removeprefix("/v2.0")
        for prefix, handler in (
            ("/networks", self._neutron_networks),
            ("/subnets", self._neutron_subnets),
            ("/ports", self._neutron_ports),
            ("/security-group-rules", self._neutron_rules),
            ("/security-groups", self._neutron_groups),
            ("/floatingips", self._neutron_fips),
            ("/routers", self._neutron_routers),
        ):
            if path.startswith(prefix):
                return handler(call, path)
        if path == "/extensions":
            names = ("security-group", "router", "external-net", "quotas")
            return 200, {
                "extensions": [
                    {"alias": a, "name": a, "description": a, "updated": "2024-01-01T00:00:00Z", "links": []}
                    for a in names
                ]
            }
        return None

    def _get_or_list(
        self, call: Call, path: str, prefix: str, items: list[dict[str, Any]], key: str
    ) -> tuple | None:
        if call.method != "GET":
            return None
        if path == prefix:
            return 200, {key + "s": self._filter(items, call.query, skip=("fields", "limit", "marker"))}
        match = re.fullmatch(prefix + r"/([^/]+)", path)
        if match:
            found = [i for i in items if i["id"] == match.group(1)]
            return (200, {key: found[0]}) if found else (404, {"NeutronError": {"message": "not found"}})
        return None

    def _neutron_networks(self, call: Call, path: str) -> tuple | None:
        return self._get_or_list(call, path, "/networks", self.networks, "network")

    def _neutron_routers(self, call: Call, path: str) -> tuple | None:
        return self._get_or_list(call, path, "/routers", self.routers, "router")

    def _neutron_subnets(self, call: Call, path: str) -> tuple | None:
        return self._get_or_list(call, path, "/subnets", self.subnets, "subnet")

    def _neutron_ports(self, call: Call, path: str) -> tuple | None:
        return self._get_or_list(call, path, "/ports", list(self.ports.values()), "port")

    def _neutron_groups(self, call: Call, path: str) -> tuple | None:
        if path == "/security-groups" and call.method == "POST":
            data = call.body["security_group"]
            group_id = str(uuid.uuid4())
            group = {
                "id": group_id,
                "name": data["name"],
                "description": data.get("description", ""),
                "project_id": PROJECT_ID,
                "tenant_id": PROJECT_ID,
                "stateful": True,
                "security_group_rules": [
                    {
                        "id": str(uuid.uuid4()),
                        "direction": "egress",
                        "ethertype": e,
                        "protocol": None,
                        "port_range_min": None,
                        "port_range_max": None,
                        "remote_ip_prefix": None,
                        "remote_group_id": None,
                        "security_group_id": group_id,
                    }
                    for e in ("IPv4", "IPv6")
                ],
            }
            self.security_groups[group_id] = group
            return 201, {"security_group": group}
        match = re.fullmatch(r"/security-groups/([^/]+)", path)
        if match and call.method == "DELETE":
            if self.security_groups.pop(match.group(1), None) is None:
                return 404, {"NeutronError": {"message": "Security group not found"}}
            return 204, None
        return self._get_or_list(
            call, path, "/security-groups", list(self.security_groups.values()), "security_group"
        )

    def _neutron_rules(self, call: Call, path: str) -> tuple | None:
        if path == "/security-group-rules" and call.method == "POST":
            data = dict(call.body["security_group_rule"])
            group = self.security_groups.get(data["security_group_id"])
            if group is None:
                return 404, {"NeutronError": {"message": "Security group not found"}}
            rule = {"id": str(uuid.uuid4()), "remote_ip_prefix": None, "remote_group_id": None, **data}
            group["security_group_rules"].append(rule)
            return 201, {"security_group_rule": rule}
        match = re.fullmatch(r"/security-group-rules/([^/]+)", path)
        if match and call.method == "DELETE":
            for group in self.security_groups.values():
                kept = [r for r in group["security_group_rules"] if r["id"] != match.group(1)]
                if len(kept) != len(group["security_group_rules"]):
                    group["security_group_rules"] = kept
                    return 204, None
            return 404, {"NeutronError": {"message": f"Security group rule {match.group(1)} not found"}}
        return None

    def add_floating_ip(
        self, address: str, port_id: str | None = None, network_id: str = PUBLIC_NET, description: str = ""
    ) -> dict[str, Any]:
        """A floating IP the project owns before the launcher runs."""
        fip = {
            "id": str(uuid.uuid4()),
            "floating_ip_address": address,
            "floating_network_id": network_id,
            "description": description,
            "port_id": port_id,
            "fixed_ip_address": self.ports[port_id]["fixed_ips"][0]["ip_address"] if port_id else None,
            "status": "ACTIVE" if port_id else "DOWN",
            "router_id": "router-1" if port_id else None,
            "project_id": PROJECT_ID,
            "tenant_id": PROJECT_ID,
            "created_at": "2024-01-01T00:00:00Z",
        }
        self.floating_ips[fip["id"]] = fip
        return fip

    def _neutron_fips(self, call: Call, path: str) -> tuple | None:
        if path == "/floatingips" and call.method == "POST":
            data = call.body["floatingip"]
            network_id = data["floating_network_id"]
            if not any(n["id"] == network_id and n["router:external"] for n in self.networks):
                return 400, {
                    "NeutronError": {"message": f"Network {network_id} is not a valid external network"}
                }
            port_id = data.get("port_id")
            if port_id:
                subnets = {ip["subnet_id"] for ip in self.ports[port_id]["fixed_ips"]}
                routed = any(
                    (r.get("external_gateway_info") or {}).get("network_id") == network_id
                    and any(
                        p["device_id"] == r["id"] and {ip["subnet_id"] for ip in p["fixed_ips"]} & subnets
                        for p in self.ports.values()
                    )
                    for r in self.routers
                )
                if not routed:  # Neutron's ExternalGatewayForFloatingIPNotFound
                    return 404, {
                        "NeutronError": {
                            "type": "ExternalGatewayForFloatingIPNotFound",
                            "message": f"External network {network_id} is not reachable from subnet "
                            f"{sorted(subnets)[0]}.",
                        }
                    }
            fip = self.add_floating_ip(
                f"203.0.113.{next(self._fips)}", port_id, network_id, data.get("description", "")
            )
            return 201, {"floatingip": fip}
        match = re.fullmatch(r"/floatingips/([^/]+)", path)
        if match and call.method in ("PUT", "DELETE"):
            fip = self.floating_ips.get(match.group(1))
            if fip is None:
                return 404, {"NeutronError": {"message": "Floating IP not found"}}
            if call.method == "DELETE":
                del self.floating_ips[fip["id"]]
                return 204, None
            port_id = call.body["floatingip"].get("port_id")
            fixed = self.ports[port_id]["fixed_ips"][0]["ip_address"] if port_id else None
            fip.update(port_id=port_id, fixed_ip_address=fixed, status="ACTIVE" if port_id else "DOWN")
            return 200, {"floatingip": fip}
        return self._get_or_list(call, path, "/floatingips", list(self.floating_ips.values()), "floatingip")

    # ---- views for tests ----------------------------------------------------------------------------

    def server_by_name(self, name: str) -> dict[str, Any] | None:
        """The server called ``name`` (internal record, with ``_user_data``)."""
        return next((s for s in self.servers.values() if s["name"] == name), None)

    def group_by_name(self, name: str) -> dict[str, Any] | None:
        """The security group called ``name``."""
        return next((g for g in self.security_groups.values() if g["name"] == name), None)
