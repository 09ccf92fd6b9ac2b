# gritkit: the two commands a fresh machine needs.
#   make demo   set up .venv, then validate, score, evaluate and render the shipped sample
#               outputs, run 2 GRPO steps on a tiny random VLM, and close the loop: generate
#               with it (grammar-constrained), then evaluate and render what it wrote (offline, CPU)
#   make test   set up .venv and .venv-verl, then run the test suite
#   make learn  the grounding experiment: does GRPO with gritkit's rewards teach a tiny VLM? (QUICK=1: reduced)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    := out
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRL_EXPERIMENTAL_SILENCE := 1

.PHONY: demo test venv venv-verl bench bench-gpu clean docs-images learn

venv: $(STAMP)

# A second environment for the real verl test (tests/training/test_verl_reward_loop.py): verl 0.9.1
# pins transformers<5.11, so it lives beside the main one, with gritkit installed without [train].
VERL_VENV  := .venv-verl
VERL_STAMP := $(VERL_VENV)/.installed
venv-verl: $(VERL_STAMP)

$(VERL_STAMP): pyproject.toml constraints-verl.txt
	test -x $(VERL_VENV)/bin/python || $(PYTHON) -m venv $(VERL_VENV)
	$(VERL_VENV)/bin/python -m pip install --quiet -c constraints-verl.txt torch==2.13.0 setuptools
	$(VERL_VENV)/bin/python -m pip install --quiet -c constraints-verl.txt verl==0.9.1 ray
	$(VERL_VENV)/bin/python -m pip install --quiet -c constraints-verl.txt --no-build-isolation -e .
	touch $(VERL_STAMP)

$(STAMP): pyproject.toml constraints.txt examples/gritkit-example/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0 setuptools
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[train,judge,report,test,generate]"
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e examples/gritkit-example
	touch $(STAMP)

demo: venv
	@echo "== 1. validate the sample outputs against the GRIT grammar (some are malformed on purpose)"
	-$(BIN)/gritkit validate examples/data/sample_outputs.jsonl
	@echo "== 2. score them with the paper's rewards (preset grit)"
	-$(BIN)/gritkit score examples/data/sample_outputs.jsonl --preset grit
	@echo "== 3. evaluate: accuracy and grounding IoU per dataset"
	$(BIN)/gritkit eval examples/data/sample_outputs.jsonl
	@echo "== 4. render every record to $(OUT)/render/ (PNGs, and index.html with all of them)"
	-$(BIN)/gritkit render examples/data/sample_outputs.jsonl --images examples/data/images --out $(OUT)/render --html
	@echo "== 5. report: reward distributions and reward-hacking signs, to $(OUT)/report/"
	mkdir -p $(OUT)
	-$(BIN)/gritkit score examples/data/sample_outputs.jsonl --preset grit --json > $(OUT)/scores.jsonl
	$(BIN)/gritkit report $(OUT)/scores.jsonl --outputs examples/data/sample_outputs.jsonl --out $(OUT)/report
	@echo "== 6. 2 GRPO steps on a tiny random Qwen2.5-VL (proves the wiring, learns nothing)"
	$(BIN)/gritkit train --tiny qwen2_5_vl --data examples/data/train.jsonl --images examples/data/images \
		--output-dir $(OUT)/tiny-grpo --max-steps 2
	@echo "== 7. generate with a tiny random Qwen2.5-VL, constrained by the grammar (so every output parses)"
	rm -f $(OUT)/gen.jsonl
	$(BIN)/gritkit generate --tiny qwen2_5_vl --data examples/data/train.jsonl --images examples/data/images \
		--out $(OUT)/gen.jsonl --constrained --max-new-tokens 64 --max-free 12
	$(BIN)/gritkit validate $(OUT)/gen.jsonl
	@echo "== 8. evaluate and render the generated outputs (random weights: the accuracy means nothing; the format is 100%)"
	$(BIN)/gritkit eval $(OUT)/gen.jsonl
	$(BIN)/gritkit render $(OUT)/gen.jsonl --images examples/data/images --out $(OUT)/render-gen --html

test: venv venv-verl
	$(BIN)/python -m pytest -q

bench: venv
	$(BIN)/python benchmarks/bench_parse.py
	$(BIN)/python benchmarks/bench_rewards.py
	$(BIN)/python benchmarks/bench_commands.py
	$(BIN)/python benchmarks/bench_grpo_gpu.py --cpu-smoke

# on a machine with a CUDA GPU
bench-gpu: venv
	$(BIN)/python benchmarks/bench_grpo_gpu.py --out $(OUT)/bench_grpo_gpu.json

# rebuild the README picture from the shipped sample data
docs-images: venv
	$(BIN)/gritkit render examples/data/sample_outputs.jsonl --images examples/data/images --out docs/images --records 3
	mv docs/images/record_0003.png docs/images/render_example.png

# the grounding experiment (docs/learning.md): full run, or QUICK=1 for the reduced one; writes $(OUT)/learn/
learn: venv
	$(BIN)/gritkit experiment grounding $(if $(QUICK),--quick) --out $(OUT)/learn --cache $(OUT)/cache/learn

clean:
	rm -rf $(OUT) build dist *.egg-info
