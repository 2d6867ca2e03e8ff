// The engine tier in firefox (scenarios.mjs; driver: drivers/firefox.mjs). Run by `make test-engines`.
import { defineEngineTier } from './scenarios.mjs';

await defineEngineTier('firefox');
