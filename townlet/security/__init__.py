"""Key registry, ZAP authenticator and key tooling shared by the console and the publisher.

Sits below ``townlet.console`` and ``townlet.publish`` and imports neither.
"""

from townlet.security.keys import (
    DEFAULT_TTL,
    MAX_TTL,
    REGISTRY_FILE,
    SERVER_PUBLIC_FILE,
    SERVER_SECRET_FILE,
    KeyFileError,
    Keypair,
    init_key_dir,
    issue_key,
    load_keypair,
    load_public_key,
    parse_ttl,
    revoke_keys,
)
from townlet.security.registry import (
    KeyCheck,
    KeyRecord,
    KeyRegistry,
    KeyStatus,
    RegistryError,
    RegistryWatcher,
    key_fingerprint,
    load_registry,
)
from townlet.security.roles import ALL_ROLES, ROLES, SUBSCRIBE_ROLES, Role, role_allows
from townlet.security.zap import RegistryAuthenticator, curve_server_socket, split_user_id

__all__ = [
    "ALL_ROLES",
    "DEFAULT_TTL",
    "MAX_TTL",
    "REGISTRY_FILE",
    "ROLES",
    "SERVER_PUBLIC_FILE",
    "SERVER_SECRET_FILE",
    "SUBSCRIBE_ROLES",
    "KeyCheck",
    "KeyFileError",
    "KeyRecord",
    "KeyRegistry",
    "KeyStatus",
    "Keypair",
    "RegistryAuthenticator",
    "RegistryError",
    "RegistryWatcher",
    "Role",
    "curve_server_socket",
    "init_key_dir",
    "issue_key",
    "key_fingerprint",
    "load_keypair",
    "load_public_key",
    "load_registry",
    "parse_ttl",
    "revoke_keys",
    "role_allows",
    "split_user_id",
]
