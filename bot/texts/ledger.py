"""The copy of the ledger's write side: bill lines made for a charge, and refusals of the usage feed."""

from __future__ import annotations


def service_charge_line(service_name: str, *, per_use: bool) -> str:
    """The bill line of a service charge posted without one: ``视频彩铃月功能费`` / ``…按次订购``."""
    return f"{service_name}{'按次订购' if per_use else '月功能费'}"


def invalid_data_usage(data_used_mb: object) -> str:
    """The usage feed sent something that is not a data counter."""
    return f"流量用量无效：{data_used_mb!r}（须为不小于 0 的整数，单位 MB）"
