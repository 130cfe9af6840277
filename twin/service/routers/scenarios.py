"""``/scenarios``: store, validate and list what-if scenario specs (validated by ``scenarios.Scenario``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request

from twin.errors import ScenarioValidationError
from twin.service.auth import Principal, require
from twin.service.deps import not_found, store_of
from twin.service.schemas import ERRORS, ScenarioIn, ScenarioOut, ValidationOut

router = APIRouter(prefix="/scenarios", tags=["scenarios"])

ANALYSTS = require("analyst")


def validate_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate a spec with ``scenarios.Scenario``; returns its normalised JSON form.

    Raises
    ------
    HTTPException
        422 naming the invalid field; 503 when the scenario engine is not installed.
    """
    try:
        from scenarios import Scenario
    except ImportError:
        raise HTTPException(
            503, "the scenario engine is not available", headers={"Retry-After": "60"}
        ) from None
    try:
        scenario = Scenario.model_validate(spec)
    except ScenarioValidationError as err:
        raise HTTPException(422, f"invalid scenario: {err}") from None
    except ValueError as err:  # pydantic.ValidationError is a ValueError
        raise HTTPException(422, f"invalid scenario: {err}") from None
    if scenario.base_model is not None:
        raise HTTPException(
            422,
            "invalid scenario: base_model: the service takes the model from model_id; leave base_model out",
        )
    if scenario.measures.bim:
        raise HTTPException(
            422,
            "invalid scenario: measures.bim: IFC files cannot be referenced by path through the API "
            "(server paths are never read on a client's behalf); run BIM scenarios with `twin scenario run`",
        )
    return scenario.model_dump(mode="json")


def _out(row: dict[str, Any]) -> ScenarioOut:
    return ScenarioOut(id=row["id"], name=row["name"], spec=row["spec"], created=row["created"])


@router.get(
    "/schema", response_model=dict[str, Any], responses=ERRORS, summary="JSON Schema of a scenario spec"
)
def scenario_schema(principal: Annotated[Principal, Depends(ANALYSTS)]) -> dict[str, Any]:
    try:
        from scenarios import schema
    except ImportError:
        raise HTTPException(
            503, "the scenario engine is not available", headers={"Retry-After": "60"}
        ) from None
    return schema()


@router.post(
    "/validate", response_model=ValidationOut, responses=ERRORS, summary="Validate a spec without storing it"
)
def validate(
    principal: Annotated[Principal, Depends(ANALYSTS)],
    spec: Annotated[
        dict[str, Any], Body(examples=[{"name": "closing one street", "simulations": ["mobility"]}])
    ],
) -> ValidationOut:
    try:
        validate_spec(spec)
    except HTTPException as err:
        if err.status_code != 422:
            raise
        return ValidationOut(valid=False, error=str(err.detail))
    return ValidationOut(valid=True)


@router.post("", status_code=201, response_model=ScenarioOut, responses=ERRORS, summary="Store a scenario")
def create_scenario(
    request: Request, body: ScenarioIn, principal: Annotated[Principal, Depends(ANALYSTS)]
) -> ScenarioOut:
    spec = validate_spec(body.spec)
    name = body.name or str(spec.get("name") or "scenario")
    sid = store_of(request).add_scenario(principal.id, name, spec)
    row = store_of(request).get_scenario(sid)
    assert row is not None
    return _out(row)


@router.get("", response_model=list[ScenarioOut], responses=ERRORS, summary="List the caller's scenarios")
def list_scenarios(
    request: Request,
    principal: Annotated[Principal, Depends(ANALYSTS)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ScenarioOut]:
    rows = store_of(request).list_scenarios(None if principal.is_admin else principal.id, limit=limit)
    return [_out(r) for r in rows]


def visible_scenario(request: Request, scenario_id: str, principal: Principal) -> dict[str, Any]:
    row = store_of(request).get_scenario(scenario_id) if len(scenario_id) <= 64 else None
    if row is None or not (principal.is_admin or row["owner"] == principal.id):
        raise not_found("scenario")
    return row


@router.get("/{scenario_id}", response_model=ScenarioOut, responses=ERRORS, summary="One scenario")
def get_scenario(
    request: Request, scenario_id: str, principal: Annotated[Principal, Depends(ANALYSTS)]
) -> ScenarioOut:
    return _out(visible_scenario(request, scenario_id, principal))
