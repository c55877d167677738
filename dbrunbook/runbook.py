"""The runbook's step names in English, each with its original (Portuguese) name in brackets.

The runbook (``docs/runbook.md``) is written in Portuguese, and the checks name the step they
implement in its words (``runbook="Diagnóstico 4 (Erros de RLS)"``). Everything a person reads (the
check metadata in every report, marker help, remediation text, the escalation lines) goes through
:func:`english` once, so an on-call engineer who reads no Portuguese still finds the step, and one
who has the runbook open finds its heading.
"""

from __future__ import annotations

import re

#: Portuguese step name -> English. Longer names first where one contains another.
STEPS: dict[str, str] = {
    "Triage (5 minutos)": "Triage (5 minutes)",
    "Triage 1 (Validar se o banco está acessível)": "Triage 1 (Check that the database is reachable)",
    "Triage 2 (Checar saúde dos serviços)": "Triage 2 (Check the services' health)",
    "Triage 3 (Checar logs)": "Triage 3 (Check the logs)",
    "Diagnóstico (detalhado)": "Diagnosis (detailed)",
    "Diagnóstico 1 (Variáveis de ambiente e URLs)": "Diagnosis 1 (Environment variables and URLs)",
    "Diagnóstico 1 (Erros típicos: ECONNREFUSED / timeout)": "Diagnosis 1 (Typical errors: ECONNREFUSED / timeout)",
    "Diagnóstico 2 (Locks e queries lentas)": "Diagnosis 2 (Locks and slow queries)",
    "Diagnóstico 3 (Migrações e drift)": "Diagnosis 3 (Migrations and drift)",
    "Diagnóstico 4 (Erros de RLS)": "Diagnosis 4 (RLS errors)",
    "Diagnóstico 1": "Diagnosis 1",
    "Diagnóstico 2": "Diagnosis 2",
    "Diagnóstico 3": "Diagnosis 3",
    "Diagnóstico 4": "Diagnosis 4",
    "Diagnóstico": "Diagnosis",
    "Mitigação (com cuidado)": "Mitigation (carefully)",
    "Mitigação (aumentar pool)": "Mitigation (increase the pool)",
    "Mitigação / Recovery": "Mitigation / Recovery",
    "Mitigação": "Mitigation",
    "Sintomas comuns": "Common symptoms",
    "Coleta para pós-incidente": "Post-incident collection",
    "Escalação": "Escalation",
    "Escopo": "Scope",
    "Mitigação (reiniciar serviços consumidores)": "Mitigation (restart the consuming services)",
    "Erros de RLS": "RLS errors",
    "Variáveis de ambiente e URLs": "Environment variables and URLs",
    "Locks e queries lentas": "Locks and slow queries",
    "Migrações e drift": "Migrations and drift",
    "Validar se o banco está acessível": "Check that the database is reachable",
    "Checar saúde dos serviços": "Check the services' health",
    "Checar logs": "Check the logs",
    "reiniciar serviços consumidores": "restart the consuming services",
    "com cuidado": "carefully",
}

_PATTERN = re.compile("|".join(re.escape(k) for k in sorted(STEPS, key=len, reverse=True)))


def english(text: str) -> str:
    """Name each runbook step in English with the original in brackets; idempotent.

    >>> english("Diagnóstico 4 (Erros de RLS): multi-tenant impact -> incident P0")
    'Diagnosis 4 (RLS errors) [Diagnóstico 4 (Erros de RLS)]: multi-tenant impact -> incident P0'
    >>> english(english("runbook 'Escalação'"))
    "runbook 'Escalation [Escalação]'"
    >>> english("Triage 1 (psql)")
    'Triage 1 (psql)'
    """

    def name(match: re.Match[str]) -> str:
        before = text[:match.start()]
        if before.rfind("[") > before.rfind("]"):  # already the original inside brackets
            return match.group(0)
        return f"{STEPS[match.group(0)]} [{match.group(0)}]"

    return _PATTERN.sub(name, text)
