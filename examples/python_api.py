"""graphmill's Python API, as cognee's SDK: add, cognify, search, datasets, remember, recall,
forget; then a server.

Run it from a checkout: `python examples/python_api.py` (data goes to GRAPHMILL_DATA_DIR,
default ./.graphmill). With GRAPHMILL_URL and GRAPHMILL_API_KEY set it also asks that server.
"""

import asyncio
import io
import os
import tempfile
from pathlib import Path

import graphmill


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    (folder / "velden.md").write_text("Marta Lindqvist founded Velden Optics in Corvin in 1903.\n")
    await graphmill.add(folder, dataset_name="example")  # a folder (or a file path)
    await graphmill.add("The harbour master of Corvin bought a lens.", dataset_name="example")
    await graphmill.add(b"Velden Optics exports lenses to Oslo.", dataset_name="example")
    await graphmill.add(io.BytesIO(b"A lighthouse keeper in Corvin.\n"), dataset_name="example")

    runs = await graphmill.cognify(["example"])
    print("cognify:", [r.status for r in runs.values()])

    answers = await graphmill.search(
        "Who founded Velden Optics?",
        query_type=graphmill.SearchType.CHUNKS,
        datasets=["example"],
        top_k=1,
    )
    hit = answers[0].search_result[0]
    print("top hit:", hit["text"].strip(), "| from", hit["document_name"])

    [dataset] = [d for d in await graphmill.datasets.list_datasets() if d.name == "example"]
    items = await graphmill.datasets.list_data(dataset.id)
    print("items:", len(items))
    print("status:", (await graphmill.datasets.get_status([dataset.id]))[str(dataset.id)])
    await graphmill.datasets.delete_data(dataset.id, items[0].id)
    print("after delete:", len(await graphmill.datasets.list_data(dataset.id)))

    # the memory API: add + cognify in one call, kept in a session too; recall; forget
    memory = await graphmill.remember("Velden Optics opened a shop in Bergen.", session_id="demo")
    print("remember:", memory["status"], memory["dataset_name"])
    [item] = await graphmill.recall("Where is the new shop?", session_id="demo", scope="session")
    print("recall:", item["source"], "|", item["text"])
    print("forget:", (await graphmill.forget(dataset="main_dataset"))["status"])

    url = os.environ.get("GRAPHMILL_URL")
    if url:  # the same methods against a server
        async with graphmill.connect(url, api_key=os.environ["GRAPHMILL_API_KEY"]) as server:
            print("server datasets:", [d.name for d in await server.datasets.list_datasets()])


if __name__ == "__main__":
    asyncio.run(main())
