"""Agents and their training sources over the API, and asking an agent a question."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from appliance.errors import ValidationError
from server.api.auditing import audit
from server.api.pagination import page
from server.api.payload import body, text
from server.auth import actor, services, workspace_role
from server.downloads import attachment
from server.widget import embed_snippet

blueprint = Blueprint("knowledge", __name__)
W = "/workspaces/<workspace_id>"


@blueprint.get(f"{W}/agents")
def list_agents(workspace_id: str):
    workspace_role(workspace_id, "agents.read")
    agents, next_after = page(services().agents.of(workspace_id).list(), key=lambda a: a.id)
    return jsonify(agents=[_agent(workspace_id, a) for a in agents], next_after=next_after)


@blueprint.post(f"{W}/agents")
def create_agent(workspace_id: str):
    workspace_role(workspace_id, "agents.write")
    agent = services().agents.of(workspace_id).create(body())
    audit(workspace_id, "agent.create", {"name": agent.name}, target_type="agent", target_id=agent.id)
    return jsonify(agent=_agent(workspace_id, agent)), 201


@blueprint.get(f"{W}/agents/<agent_id>")
def get_agent(workspace_id: str, agent_id: str):
    workspace_role(workspace_id, "agents.read")
    return jsonify(agent=_agent(workspace_id, services().agents.of(workspace_id).get(agent_id)))


@blueprint.patch(f"{W}/agents/<agent_id>")
def update_agent(workspace_id: str, agent_id: str):
    workspace_role(workspace_id, "agents.write")
    changes = body()
    agents = services().agents.of(workspace_id)
    before = agents.get(agent_id).public()
    agent = agents.update(agent_id, changes)
    after = agent.public()
    changed = sorted(name for name in changes if name in after and after[name] != before.get(name))
    if changed:  # the names of the settings that changed, not their values (instructions can be long)
        audit(workspace_id, "agent.update", {"fields": changed}, target_type="agent", target_id=agent_id)
    return jsonify(agent=_agent(workspace_id, agent))


@blueprint.delete(f"{W}/agents/<agent_id>")
def delete_agent(workspace_id: str, agent_id: str):
    workspace_role(workspace_id, "agents.write")
    agents = services().agents.of(workspace_id)
    name = agents.get(agent_id).name
    agents.delete(agent_id)
    audit(workspace_id, "agent.delete", {"name": name}, target_type="agent", target_id=agent_id)
    return "", 204


@blueprint.post(f"{W}/agents/<agent_id>/ask")
def ask(workspace_id: str, agent_id: str):
    workspace_role(workspace_id, "agents.ask")
    data = body()
    agent = services().agents.of(workspace_id).get(agent_id)
    # A caller continues only the API conversations it started itself, never a widget visitor's or another's.
    exchange = services().conversations.chat(workspace_id).ask(
        agent, text(data, "question"), conversation_id=text(data, "conversation_id", required=False),
        caller=":".join(actor()))
    reply = exchange.reply
    return jsonify(conversation_id=exchange.conversation_id, message_id=exchange.message_id, reply=reply.text,
                   answered=reply.answered, confidence=reply.confidence, method=reply.method,
                   offer_lead_form=reply.offer_lead_form,
                   sources=[{"source_id": c.source_id, "title": c.title, "url": c.url,
                             "heading_path": c.heading_path, "passage": c.passage} for c in reply.citations])


@blueprint.get(f"{W}/sources")
def list_sources(workspace_id: str):
    workspace_role(workspace_id, "sources.read")
    sources, next_after = page(services().knowledge.sources(workspace_id).list(), key=lambda s: s.id)
    return jsonify(sources=[s.public() for s in sources], next_after=next_after)


@blueprint.post(f"{W}/sources")
def add_source(workspace_id: str):
    """JSON sources: pasted text, Q&A pairs, a URL or a sitemap (files go to /sources/upload)."""
    workspace_role(workspace_id, "sources.write")
    data = body()
    sources = services().knowledge.sources(workspace_id)
    kind = text(data, "kind")
    if kind == "text":
        source = sources.add_text(title=text(data, "title"), text=text(data, "text"))
    elif kind == "qa":
        source = sources.add_qa(title=text(data, "title"), pairs=_pairs(data))
    elif kind in ("url", "sitemap"):
        source = sources.add_url(url=text(data, "url"), sitemap=kind == "sitemap")
    else:
        raise ValidationError("'kind' is text, qa, url or sitemap; upload files to /sources/upload")
    _audit_source(workspace_id, "source.add", source)
    return jsonify(source=source.public()), 202


@blueprint.post(f"{W}/sources/upload")
def upload_source(workspace_id: str):
    workspace_role(workspace_id, "sources.write")
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError("send the file as multipart/form-data in a field named 'file'")
    try:
        data = upload.read()
    finally:
        upload.close()
    source = services().knowledge.sources(workspace_id).add_file(filename=upload.filename, data=data,
                                                         media_type=upload.mimetype or None)
    _audit_source(workspace_id, "source.add", source)
    return jsonify(source=source.public()), 202


@blueprint.get(f"{W}/sources/<source_id>")
def get_source(workspace_id: str, source_id: str):
    workspace_role(workspace_id, "sources.read")
    return jsonify(source=services().knowledge.sources(workspace_id).get(source_id).public())


@blueprint.get(f"{W}/sources/<source_id>/original")
def source_original(workspace_id: str, source_id: str):
    workspace_role(workspace_id, "sources.read")
    sources = services().knowledge.sources(workspace_id)
    source = sources.get(source_id)
    return Response(sources.original(source_id), mimetype="application/octet-stream",
                    headers={"Content-Disposition": attachment(source.filename or f"{source.title}.txt")})


@blueprint.patch(f"{W}/sources/<source_id>")
def edit_source(workspace_id: str, source_id: str):
    workspace_role(workspace_id, "sources.write")
    data = body()
    sources = services().knowledge.sources(workspace_id)
    title = text(data, "title", required=False)
    if "pairs" in data:
        source = sources.update_qa(source_id, pairs=_pairs(data), title=title)
    else:
        source = sources.update_text(source_id, text=text(data, "text"), title=title)
    _audit_source(workspace_id, "source.update", source, pairs=len(data["pairs"]) if "pairs" in data else None)
    return jsonify(source=source.public()), 202


@blueprint.post(f"{W}/sources/<source_id>/pairs")
def put_pair(workspace_id: str, source_id: str):
    """One question and answer added to a Q&A source (or a question it holds answered anew), atomically."""
    workspace_role(workspace_id, "sources.write")
    data = body()
    source, count = services().knowledge.sources(workspace_id).put_pair(
        source_id, question=text(data, "question"), answer=text(data, "answer"))
    _audit_source(workspace_id, "source.update", source, pairs=count)
    return jsonify(source=source.public(), pairs=count), 202


@blueprint.post(f"{W}/sources/<source_id>/refresh")
def refresh_source(workspace_id: str, source_id: str):
    workspace_role(workspace_id, "sources.write")
    source = services().knowledge.sources(workspace_id).refresh(source_id)
    _audit_source(workspace_id, "source.refresh", source)
    return jsonify(source=source.public()), 202


@blueprint.delete(f"{W}/sources/<source_id>")
def delete_source(workspace_id: str, source_id: str):
    workspace_role(workspace_id, "sources.write")
    sources = services().knowledge.sources(workspace_id)
    source = sources.get(source_id)
    sources.delete(source_id)
    _audit_source(workspace_id, "source.delete", source)
    return "", 204


def _agent(workspace_id: str, agent) -> dict:
    """An agent's settings, with the snippet an admin pastes into a page to embed its widget and the appliance's page
    that previews it."""
    url = services().links.public_url
    return {**agent.public(), "embed_snippet": embed_snippet(url, agent.public_id),
            "preview_url": f"{url}/workspaces/{workspace_id}/agents/{agent.id}/preview"}


def _audit_source(workspace_id: str, action: str, source, **extra) -> None:
    details = {"kind": source.kind, "title": source.title, "bytes": source.size_bytes}
    details.update((k, v) for k, v in extra.items() if v is not None)
    audit(workspace_id, action, details, target_type="source", target_id=source.id)


def _pairs(data: dict) -> list[tuple[str, str]]:
    pairs = data.get("pairs")
    if not isinstance(pairs, list):
        raise ValidationError("'pairs' is a list of {question, answer} objects")
    out = []
    for pair in pairs:
        if not isinstance(pair, dict):
            raise ValidationError("'pairs': each pair is an object with 'question' and 'answer'")
        out.append((pair.get("question"), pair.get("answer")))
    return out
