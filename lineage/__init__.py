"""The lineage side: the policy engine and policy files, the ClickHouse store and its queries."""
