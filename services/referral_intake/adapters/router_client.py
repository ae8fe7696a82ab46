"""The router's HTTP API, as intake uses it for explanations and simulations. The caller's
own bearer token is passed on, so the router applies the same roles and logs the same
person."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class RouterUnavailable(Exception):
    pass


@dataclass(frozen=True)
class RouterAnswer:
    status_code: int
    body: Any


class RouterClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport``: how to reach ``base_url`` when it is not over the network (the
        tests hand intake the router app they started, in process)."""
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)

    async def _post(
        self, path: str, *, token: str, json: Any, params: dict[str, str] | None = None
    ) -> RouterAnswer:
        try:
            response = await self._client.post(
                path, json=json, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise RouterUnavailable from exc
        if response.status_code >= 500:
            raise RouterUnavailable(f"router answered {response.status_code}")
        return RouterAnswer(response.status_code, response.json())

    async def explain(
        self, facts: dict[str, Any], *, token: str, policy_version: str | None
    ) -> RouterAnswer:
        params = {"policy_version": policy_version} if policy_version else None
        return await self._post(
            "/v1/decisions/explain", token=token, json={"facts": facts}, params=params
        )

    async def simulate(self, request: dict[str, Any], *, token: str) -> RouterAnswer:
        return await self._post("/v1/simulations", token=token, json=request)

    async def close(self) -> None:
        await self._client.aclose()
