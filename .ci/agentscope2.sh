#!/usr/bin/env bash
# The AgentScope 2.x tests, in an environment of their own: AgentScope 1.x
# (the workspace's) and 2.x cannot share one. Makes (or refreshes) the
# environment, installs the workspace's packages editable with their extras
# and the pins of .ci/agentscope2-requirements.txt, then runs tests/agentscope2.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${MEMMARK_AGENTSCOPE2_VENV:-.venv-agentscope2}
python=$venv/bin/python
if [ ! -x "$python" ]; then
  uv venv --quiet --python 3.11 "$venv"
fi
uv pip install --quiet --python "$python" \
  -r .ci/agentscope2-requirements.txt \
  -e packages/memory-core \
  -e 'packages/memory-sql[sqlite,postgres,mysql]' \
  -e packages/memory-redis \
  -e packages/memory-agentscope
"$python" -c 'import agentscope; print("AgentScope", agentscope.__version__)'
"$python" -m mypy --config-file .ci/mypy-agentscope2.ini packages/memory-agentscope/src/memmark/agentscope/v2
"$python" -m pytest tests/agentscope2 "$@"
