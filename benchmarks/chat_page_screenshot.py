"""A screenshot of the web chat page talking to a model: starts `hfchat serve`, asks two questions in Debian's
chromium (through playwright), and saves the page.

    python benchmarks/chat_page_screenshot.py --model runs/tiny/sft   # writes benchmarks/results/chat_page.png
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

from hfchat.serving.launch import running_server

RESULT = Path(__file__).parent / "results" / "chat_page.png"
QUESTIONS = ["Who are you?", "Tell me a story about a cat."]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--output", default=str(RESULT))
    args = parser.parse_args()
    with running_server(args.model, "--model-id", Path(args.model).name) as url:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 860})
            page.goto(url)
            page.fill("#temperature", "0")
            for number, question in enumerate(QUESTIONS, start=1):
                page.fill("#input", question)
                page.press("#input", "Enter")
                page.wait_for_function(f"document.querySelectorAll('.msg.assistant').length == {number} && "
                                       "!document.querySelector('#send').disabled", timeout=60000)
            page.screenshot(path=args.output)
            browser.close()
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
