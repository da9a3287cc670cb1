export * from './bootstrap.js';
export * from './config.js';
export * from './logger.js';
export * from './providers/instavm-provider.js';
export * from './providers/provider.js';
export * from './provision.js';
export * from './retry-policy.js';
export * from './spawner.js';
