"""A small demo CRM (leads, contacts, companies, notes) with an OpenAPI 3 document.

``agentgraph up`` serves it on 127.0.0.1 (``AGENTGRAPH_DEMO__PORT``, default 8101)
and registers it as the first tool. Data is seeded in memory on each start; notes
created by agents live until the process stops. The OpenAPI document users
register is ``crm_openapi.yaml`` next to this module; ``python -m agentgraph.demo.crm
--export`` regenerates it from the routes.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

OPENAPI_PATH = Path(__file__).with_name("crm_openapi.yaml")


class Company(BaseModel):
    """A customer or prospect organisation."""

    id: str
    name: str
    industry: str
    employees: int
    website: str


class Contact(BaseModel):
    """A person at a company."""

    id: str
    name: str
    email: str
    title: str
    company_id: str


class Lead(BaseModel):
    """A sales lead: a contact with a status and an interest."""

    id: str
    name: str
    email: str
    company_id: str
    status: str = Field(description="new, contacted, qualified or lost")
    interest: str
    last_contacted: str | None = None


class Note(BaseModel):
    """A free-text note attached to a lead."""

    id: str
    lead_id: str
    text: str


class NoteCreate(BaseModel):
    """Body of createNote."""

    text: str = Field(min_length=1, max_length=2000)


def _seed() -> tuple[dict[str, Company], dict[str, Contact], dict[str, Lead], dict[str, Note]]:
    companies = {
        c.id: c
        for c in [
            Company(id="co-1", name="Analytical Engines Ltd", industry="Computing", employees=42, website="https://engines.example"),
            Company(id="co-2", name="Compiler Works", industry="Software", employees=120, website="https://compilers.example"),
            Company(id="co-3", name="Radium Labs", industry="Research", employees=18, website="https://radium.example"),
        ]
    }
    contacts = {
        c.id: c
        for c in [
            Contact(id="ct-1", name="Charles Babbage", email="charles@engines.example", title="CEO", company_id="co-1"),
            Contact(id="ct-2", name="Grace Hopper", email="grace@compilers.example", title="CTO", company_id="co-2"),
        ]
    }
    leads = {
        l.id: l
        for l in [
            Lead(id="ld-1", name="Ada Lovelace", email="ada@engines.example", company_id="co-1", status="new",
                 interest="Wants a demo of the analytics add-on", last_contacted=None),
            Lead(id="ld-2", name="Alan Turing", email="alan@compilers.example", company_id="co-2", status="contacted",
                 interest="Asked for pricing of the enterprise plan", last_contacted="2026-11-02"),
            Lead(id="ld-3", name="Marie Curie", email="marie@radium.example", company_id="co-3", status="qualified",
                 interest="Needs SSO and audit logs", last_contacted="2026-11-15"),
        ]
    }
    notes = {"nt-1": Note(id="nt-1", lead_id="ld-2", text="Sent pricing sheet; follow up after their budget meeting.")}
    return companies, contacts, leads, notes


def create_crm_app() -> FastAPI:
    """The demo CRM as a FastAPI app (OpenAPI served at ``/openapi.json``)."""
    app = FastAPI(
        title="Demo CRM",
        version="1.0.0",
        description="Leads, contacts, companies and notes of a small sales team.",
    )
    companies, contacts, leads, notes = _seed()
    ids = itertools.count(len(notes) + 1)

    def _match(q: str | None, *fields: str) -> bool:
        return not q or any(q.lower() in f.lower() for f in fields)

    @app.get("/health", operation_id="health", tags=["meta"], summary="Service health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/leads", operation_id="searchLeads", tags=["leads"], summary="Search leads by name, email or interest")
    def search_leads(q: str | None = Query(None, description="Text to search in name, email and interest"),
                     status: str | None = Query(None, description="Filter by status")) -> list[Lead]:
        return [l for l in leads.values() if _match(q, l.name, l.email, l.interest) and (not status or l.status == status)]

    @app.get("/leads/{lead_id}", operation_id="getLead", tags=["leads"], summary="Get one lead by id")
    def get_lead(lead_id: str) -> Lead:
        if lead_id not in leads:
            raise HTTPException(404, f"lead {lead_id} not found")
        return leads[lead_id]

    @app.get("/leads/{lead_id}/notes", operation_id="listLeadNotes", tags=["notes"], summary="List the notes of a lead")
    def list_notes(lead_id: str) -> list[Note]:
        if lead_id not in leads:
            raise HTTPException(404, f"lead {lead_id} not found")
        return [n for n in notes.values() if n.lead_id == lead_id]

    @app.post("/leads/{lead_id}/notes", operation_id="createNote", tags=["notes"], summary="Add a note to a lead",
              status_code=201)
    def create_note(lead_id: str, body: NoteCreate) -> Note:
        if lead_id not in leads:
            raise HTTPException(404, f"lead {lead_id} not found")
        note = Note(id=f"nt-{next(ids)}", lead_id=lead_id, text=body.text)
        notes[note.id] = note
        return note

    @app.get("/contacts", operation_id="searchContacts", tags=["contacts"], summary="Search contacts by name or email")
    def search_contacts(q: str | None = Query(None, description="Text to search in name and email")) -> list[Contact]:
        return [c for c in contacts.values() if _match(q, c.name, c.email)]

    @app.get("/companies", operation_id="searchCompanies", tags=["companies"], summary="Search companies by name")
    def search_companies(q: str | None = Query(None, description="Text to search in the company name")) -> list[Company]:
        return [c for c in companies.values() if _match(q, c.name, c.industry)]

    @app.get("/companies/{company_id}", operation_id="getCompany", tags=["companies"], summary="Get one company by id")
    def get_company(company_id: str) -> Company:
        if company_id not in companies:
            raise HTTPException(404, f"company {company_id} not found")
        return companies[company_id]

    return app


def export_openapi(path: Path = OPENAPI_PATH) -> Path:
    """Write the CRM's OpenAPI document as YAML (servers left out: the base URL is registered separately)."""
    import yaml

    doc = create_crm_app().openapi()
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def main() -> None:
    """``python -m agentgraph.demo.crm [--port N] [--export]``."""
    parser = argparse.ArgumentParser(description="Demo CRM service")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--export", action="store_true", help="write crm_openapi.yaml and exit")
    args = parser.parse_args()
    if args.export:
        print(export_openapi())
        return
    import uvicorn

    uvicorn.run(create_crm_app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
