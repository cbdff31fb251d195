"""Placeholder UI (replaced by the Gradio app)."""

import gradio as gr

from agentgraph.settings import Settings


def build_ui(settings: Settings) -> gr.Blocks:
    """Gradio Blocks app mounted at /ui."""
    with gr.Blocks(title="agentgraph") as demo:
        gr.Markdown("# agentgraph")
    return demo
