#!/usr/bin/env node
// Runs the TypeScript sources through tsx's loader, so no build step stands between a
// checkout and a running gateway.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
