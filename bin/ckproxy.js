#!/usr/bin/env node
// `ckproxy` is ckpool -p (ckpool decides by its program name).
import { launch } from './launch.js';

await launch('ckpool', 'ckproxy');
